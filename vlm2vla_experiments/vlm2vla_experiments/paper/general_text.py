"""General-ability probes for the forgetting experiment: English paragraphs and multiple choice.

:data:`PARAGRAPHS`: 50 short factual and narrative English paragraphs written for this project
(not taken from any benchmark), scored by perplexity. :func:`general_questions`: 40 four-option
general-knowledge questions, scored by choice log-likelihood with
:func:`vlm2vla_training.evaluation.vqa.score_questions` (the same scorer as the VQA retention
check). Both are small and easy on purpose: they measure how much of a tiny base model's general
text ability survives fine-tuning, not how good the model is.
"""

from __future__ import annotations

from vlm2vla_training.evaluation.vqa_questions import Question

PARAGRAPHS: tuple[str, ...] = (
    "The Pacific is the largest and deepest of the world's oceans. It covers about a third of the "
    "surface of the Earth and stretches from the Arctic in the north to the Southern Ocean.",
    "Water boils at 100 degrees Celsius at sea level. On a high mountain the air pressure is "
    "lower, so water boils at a lower temperature and food takes longer to cook.",
    "Every morning the baker opened her shop before sunrise. By seven o'clock the shelves were "
    "full of warm bread, and a line of sleepy customers waited at the door.",
    "The human heart has four chambers. The right side pumps blood to the lungs, where it picks "
    "up oxygen, and the left side pumps it to the rest of the body.",
    "Honey bees live in colonies with a single queen. Worker bees collect nectar from flowers and "
    "turn it into honey, which the colony eats during the winter.",
    "The old lighthouse stood at the end of a rocky point. For a hundred years its light had "
    "warned ships away from the reef, until a modern beacon replaced it.",
    "Paper was invented in China about two thousand years ago. It was made from plant fibres "
    "soaked in water, pressed into thin sheets and dried in the sun.",
    "A year on Earth lasts about 365 days, the time it takes our planet to travel once around the "
    "Sun. Every fourth year has an extra day to keep the calendar in step.",
    "Tom missed the last bus, so he walked home through the park. The streets were quiet, and "
    "the only sound was the rain falling on the leaves above him.",
    "The Amazon rainforest is home to millions of species of insects, plants, birds and other "
    "animals. Its trees also store large amounts of carbon.",
    "Glass is made by melting sand together with soda and lime. When the hot liquid cools quickly "
    "it becomes hard and clear instead of forming crystals.",
    "The train left the station exactly on time. Anna found a seat by the window, opened her book "
    "and watched the city slowly give way to green fields.",
    "Penguins cannot fly, but they are excellent swimmers. Their wings have become stiff flippers "
    "that push them through the cold water in search of fish.",
    "The Moon has no light of its own. It shines because it reflects sunlight, and its shape "
    "seems to change as we see more or less of its lit side.",
    "Mount Everest is the highest mountain above sea level. It lies in the Himalayas on the "
    "border between Nepal and China.",
    "The children built a small boat out of wood and string. When they set it on the pond, it "
    "floated for a moment, tipped to one side and sank, and everyone laughed.",
    "Plants make their own food through photosynthesis. They use sunlight to turn water and "
    "carbon dioxide into sugar, and they release oxygen into the air.",
    "The printing press, developed in Europe in the fifteenth century, made books much cheaper. "
    "Ideas could now spread quickly to many readers.",
    "A rainbow appears when sunlight passes through drops of rain. Each drop bends the light and "
    "splits it into its colours, from red on the outside to violet on the inside.",
    "After years of saving, the farmer finally bought a new tractor. He drove it slowly around "
    "the field while his daughter cheered from the fence.",
    "Sound travels as a wave through air, water or solid objects. It moves faster in water than "
    "in air, and it cannot travel through empty space.",
    "The river flooded after a week of heavy rain. Families moved their furniture upstairs, and "
    "volunteers filled sandbags along the banks.",
    "Elephants are the largest land animals. They use their long trunks to breathe, smell, drink "
    "and pick up objects as small as a peanut.",
    "The library was quiet except for the ticking of the clock. Sam searched the shelves for an "
    "hour before he found the old map his grandfather had described.",
    "Iron rusts when it is exposed to water and oxygen for a long time. The rust is a reddish "
    "brown compound that slowly weakens the metal.",
    "The Nile is one of the longest rivers in the world. It flows north through eastern Africa "
    "and reaches the Mediterranean Sea in Egypt.",
    "A good night's sleep helps the brain store memories. People who sleep too little often find "
    "it harder to concentrate and learn new things.",
    "The fox waited at the edge of the forest until the farmer went inside. Then it crept toward "
    "the henhouse, but the dog began to bark and the fox ran away.",
    "Volcanoes form where hot melted rock from deep inside the Earth reaches the surface. When "
    "the pressure builds up, the volcano may erupt with lava and ash.",
    "Bicycles are among the most efficient machines ever built. A rider can travel several times "
    "farther on a bicycle than on foot with the same effort.",
    "Maria planted tomatoes, beans and sunflowers in her garden. By the end of the summer the "
    "sunflowers were taller than the fence.",
    "The Great Wall of China was built over many centuries. Its walls and towers stretch across "
    "mountains, deserts and grasslands in the north of the country.",
    "Salt water freezes at a lower temperature than fresh water. This is why people spread salt "
    "on icy roads in winter.",
    "The museum opened a new exhibition about ancient Egypt. Visitors could see painted coffins, "
    "jewellery and tools that were thousands of years old.",
    "Whales are mammals, not fish. They breathe air through a blowhole on the top of the head and "
    "feed their young with milk.",
    "On the first day of school, Leo could not find his classroom. A tall girl with a red bag "
    "showed him the way, and they soon became good friends.",
    "Electric current flows easily through metals such as copper. Materials like rubber and "
    "plastic block the current and are used to insulate wires.",
    "The Sahara is the largest hot desert on Earth. Days there can be very hot, but nights are "
    "often surprisingly cold because the dry air loses heat quickly.",
    "The storm knocked out the power in the whole village. That evening the family ate dinner by "
    "candlelight and played cards until the lights came back on.",
    "Vaccines train the immune system to recognise a germ without causing the disease. If the "
    "real germ arrives later, the body can fight it off quickly.",
    "The city of Venice is built on more than a hundred small islands. Instead of streets, many "
    "of its neighbourhoods are connected by canals and bridges.",
    "Trees grow a new layer of wood every year. By counting the rings in a cut trunk, one can "
    "estimate how old the tree was.",
    "The team had lost every game that season. In the final match, however, they scored in the "
    "last minute and the crowd ran onto the field to celebrate.",
    "Light from the Sun takes about eight minutes to reach the Earth. Light from the nearest "
    "other stars takes several years.",
    "Cheese is made by curdling milk and pressing the curds. Different bacteria, moulds and aging "
    "times give each kind of cheese its own taste.",
    "The old man fed the pigeons in the square every afternoon. When he fell ill, the "
    "neighbourhood children took turns bringing the bread.",
    "Earthquakes happen when large plates of the Earth's crust suddenly slip past each other. "
    "The shaking can be felt hundreds of kilometres away.",
    "A compass needle points north because it lines up with the Earth's magnetic field. Sailors "
    "have used compasses to find their way for centuries.",
    "The snow fell all night, and in the morning the whole town was white. Schools were closed, "
    "and the hills were soon full of children with sleds.",
    "Chess is played on a board of sixty-four squares. Each player starts with sixteen pieces, "
    "and the game ends when one king is trapped.",
)
"""Short factual and narrative English paragraphs (perplexity set)."""

_QUESTIONS: tuple[tuple[str, tuple[str, str, str, str], int], ...] = (
    ("What is the capital of Italy?", ("Rome", "Milan", "Naples", "Venice"), 0),
    ("What is the capital of Japan?", ("Osaka", "Tokyo", "Kyoto", "Seoul"), 1),
    ("Which animal is known as the king of the jungle?", ("tiger", "bear", "lion", "wolf"), 2),
    ("How many days are in a week?", ("five", "six", "eight", "seven"), 3),
    ("What colour is grass?", ("green", "blue", "red", "purple"), 0),
    ("Which planet is closest to the Sun?", ("Venus", "Mercury", "Earth", "Mars"), 1),
    ("What do bees make?", ("milk", "silk", "honey", "wool"), 2),
    ("What is frozen water called?", ("steam", "sand", "glass", "ice"), 3),
    ("How many hours are in a day?", ("twenty-four", "twelve", "sixty", "thirty"), 0),
    ("Which is the largest ocean on Earth?", ("Atlantic", "Pacific", "Indian", "Arctic"), 1),
    ("What is the opposite of hot?", ("warm", "wet", "cold", "loud"), 2),
    ("Which season comes after summer?", ("spring", "winter", "summer", "autumn"), 3),
    ("What do cows drink?", ("water", "oil", "coffee", "juice"), 0),
    ("How many legs does a dog have?", ("two", "four", "six", "eight"), 1),
    ("Which gas do humans need to breathe?", ("helium", "neon", "oxygen", "argon"), 2),
    ("What is the largest planet in the solar system?", ("Mars", "Earth", "Venus", "Jupiter"), 3),
    ("Who wrote the play Romeo and Juliet?", ("Shakespeare", "Dickens", "Tolstoy", "Homer"), 0),
    ("What is two plus two?", ("three", "four", "five", "six"), 1),
    ("Which instrument has black and white keys?", ("drum", "flute", "piano", "violin"), 2),
    ("What do we call a baby cat?", ("puppy", "calf", "foal", "kitten"), 3),
    ("In which continent is Egypt?", ("Africa", "Europe", "Asia", "South America"), 0),
    ("What is the boiling point of water in degrees Celsius?", ("50", "100", "150", "200"), 1),
    ("Which bird is a symbol of peace?", ("crow", "eagle", "dove", "owl"), 2),
    ("What shape has three sides?", ("square", "circle", "pentagon", "triangle"), 3),
    ("Which organ pumps blood through the body?", ("heart", "liver", "lung", "stomach"), 0),
    ("Which language is mainly spoken in Brazil?", ("Spanish", "Portuguese", "French", "Dutch"), 1),
    ("Which metal is liquid at room temperature?", ("iron", "gold", "mercury", "silver"), 2),
    ("What do caterpillars turn into?", ("spiders", "frogs", "worms", "butterflies"), 3),
    (
        "Which star is at the centre of the solar system?",
        ("the Sun", "Sirius", "Polaris", "Vega"),
        0,
    ),
    ("How many months are in a year?", ("ten", "twelve", "eleven", "fourteen"), 1),
    ("What is the tallest animal?", ("elephant", "horse", "giraffe", "camel"), 2),
    ("Which country is famous for the Eiffel Tower?", ("Spain", "Italy", "Germany", "France"), 3),
    ("What do you use to write on a blackboard?", ("chalk", "soap", "salt", "rice"), 0),
    ("Which fruit is yellow and curved?", ("apple", "banana", "cherry", "grape"), 1),
    ("What is the currency of the United States?", ("euro", "pound", "dollar", "yen"), 2),
    ("Which sense do ears give us?", ("sight", "taste", "smell", "hearing"), 3),
    ("Where do fish live?", ("in water", "in trees", "in deserts", "in clouds"), 0),
    ("What is the freezing point of water in degrees Celsius?", ("10", "0", "-20", "32"), 1),
    ("Which tool is used to cut paper?", ("hammer", "spoon", "scissors", "brush"), 2),
    ("Which month comes after January?", ("March", "April", "December", "February"), 3),
)


def general_questions() -> list[Question]:
    """The 40 text-only multiple-choice questions (answers spread over the four positions)."""
    return [
        Question(f"general-{index:02d}", text, choices, answer)
        for index, (text, choices, answer) in enumerate(_QUESTIONS)
    ]
