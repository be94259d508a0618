"""A small built-in multiple-choice question set for the VQA retention check.

Image questions ask about synthetic pictures of coloured shapes on a plain background (the colour
of a shape, its kind, how many shapes there are); text questions ask for general knowledge,
one of them in French (the paper stresses multilingual retention). The set is generated from a
seed, so the same seed gives the same questions and pictures. It is a smoke test of retention,
not a benchmark: see :mod:`vlm2vla_training.evaluation.external` for VLMEvalKit / lmms-eval.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40),
    "green": (40, 170, 60),
    "blue": (40, 80, 220),
    "yellow": (230, 210, 40),
}
SHAPES: tuple[str, ...] = ("circle", "square", "triangle")
COUNTS: tuple[str, ...] = ("one", "two", "three", "four")
IMAGE_SIZE = 224
BACKGROUND = (245, 245, 240)


@dataclass(frozen=True)
class Question:
    """A multiple-choice question, optionally about an image."""

    # Stable id, e.g. "colour-3" or "text-capital".
    qid: str
    # The question text (the choices are listed by the prompt builder).
    question: str
    # Answer options; exactly one is right.
    choices: tuple[str, ...]
    # Index of the right option in ``choices``.
    answer: int
    # The picture the question is about; None for a text-only question.
    image: Image.Image | None = None


TEXT_QUESTIONS: tuple[Question, ...] = (
    Question(
        "text-capital",
        "What is the capital of France?",
        ("Paris", "London", "Berlin", "Madrid"),
        0,
    ),
    Question(
        "text-spider",
        "How many legs does a spider have?",
        ("six", "eight", "four", "ten"),
        1,
    ),
    Question(
        "text-planet",
        "Which planet is known as the Red Planet?",
        ("Venus", "Jupiter", "Mars", "Saturn"),
        2,
    ),
    Question(
        "text-photosynthesis",
        "Which gas do plants take from the air for photosynthesis?",
        ("oxygen", "nitrogen", "helium", "carbon dioxide"),
        3,
    ),
    Question(
        "text-arithmetic",
        "What is seven times eight?",
        ("fifty-six", "forty-eight", "sixty-four", "fifty-four"),
        0,
    ),
    Question(
        "text-french",
        "De quelle couleur est le ciel par beau temps ?",
        ("vert", "bleu", "rouge", "noir"),
        1,
    ),
)
"""General-knowledge questions without an image."""


def draw_shape(
    draw: ImageDraw.ImageDraw,
    shape: str,
    centre: tuple[int, int],
    radius: int,
    colour: tuple[int, int, int],
) -> None:
    """Draw one filled ``shape`` of ``radius`` pixels at ``centre`` (pixels)."""
    x, y = centre
    box = [x - radius, y - radius, x + radius, y + radius]
    if shape == "circle":
        draw.ellipse(box, fill=colour)
    elif shape == "square":
        draw.rectangle(box, fill=colour)
    else:
        corners = [(x, y - radius), (x - radius, y + radius), (x + radius, y + radius)]
        draw.polygon(corners, fill=colour)


def shapes_image(shapes: list[tuple[str, str, tuple[int, int]]], radius: int = 30) -> Image.Image:
    """A picture of ``(shape, colour name, centre)`` items on a plain background."""
    image = Image.new("RGB", (IMAGE_SIZE, IMAGE_SIZE), BACKGROUND)
    draw = ImageDraw.Draw(image)
    for shape, colour, centre in shapes:
        draw_shape(draw, shape, centre, radius, COLOURS[colour])
    return image


def builtin_questions(image_questions: int = 30, seed: int = 0) -> list[Question]:
    """``image_questions`` picture questions (colour, shape, count in turn) + the text questions."""
    rng = np.random.default_rng(seed)
    slots = [(56 + 112 * (i % 2), 56 + 112 * (i // 2)) for i in range(4)]  # a 2x2 grid
    colours = list(COLOURS)
    questions = []
    for index in range(image_questions):
        kind = ("colour", "shape", "count")[index % 3]
        shape = SHAPES[int(rng.integers(len(SHAPES)))]
        colour = colours[int(rng.integers(len(colours)))]
        if kind == "count":
            count = int(rng.integers(1, len(COUNTS) + 1))
            picked = rng.choice(len(slots), size=count, replace=False)
            image = shapes_image([(shape, colour, slots[int(i)]) for i in picked])
            text = "How many shapes are in the image?"
            questions.append(Question(f"count-{index}", text, COUNTS, count - 1, image))
            continue
        image = shapes_image([(shape, colour, slots[int(rng.integers(len(slots)))])])
        if kind == "colour":
            text = "What colour is the shape in the image?"
            choices, answer = tuple(colours), colours.index(colour)
        else:
            text = "What shape is in the image?"
            choices, answer = SHAPES, SHAPES.index(shape)
        questions.append(Question(f"{kind}-{index}", text, choices, answer, image))
    return questions + list(TEXT_QUESTIONS)
