"""Relabeling: the noun-phrase heuristic, the offline labeler, the teacher over a local fake API."""

import json
import threading
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from vlm2vla_policy.language import parse_plan
from vlm2vla_training import synthetic
from vlm2vla_training.episode import Episode, EpisodeError
from vlm2vla_training.frames import ArrayFrames
from vlm2vla_training.relabel import (
    HeuristicLabeler,
    LabelerFatalError,
    RecordedLabeler,
    Segment,
    SegmentError,
    TeacherConfig,
    TeacherLabeler,
    parse_instruction,
    validate_segments,
)


def _episode(seed=0, num_steps=12):
    trajectory = synthetic.make_trajectory(
        np.random.default_rng(seed), synthetic.SyntheticConfig(num_steps=num_steps)
    )
    return Episode(
        episode_id=f"synthetic-{seed}",
        source="test",
        instruction=trajectory.instruction,
        fps=5.0,
        states=trajectory.states,
        actions=synthetic.expected_actions(trajectory),
        frames=ArrayFrames(trajectory.frames),
    )


@pytest.mark.parametrize(
    ("instruction", "obj", "relation", "target"),
    [
        ("put the carrot on the plate", "the carrot", "on", "the plate"),
        ("Pick up the red cup.", "the red cup", "", ""),
        ("pick up the spoon and put it in the pot", "the spoon", "in", "the pot"),
        ("move the pot to the left of the stove", "the pot", "to the left of", "the stove"),
        ("put eggplant into pot", "the eggplant", "into", "the pot"),
        ("place the spoon from the towel onto the plate", "the spoon", "onto", "the plate"),
        ("", "the object", "", ""),
    ],
)
def test_noun_phrase_heuristic(instruction, obj, relation, target):
    task = parse_instruction(instruction)
    assert (task.object, task.relation, task.target) == (obj, relation, target)


def test_heuristic_labeler_splits_at_gripper_events():
    episode = _episode()
    segments = HeuristicLabeler().label(episode)
    task = parse_instruction(episode.instruction)
    obj, target = task.object, task.target
    assert [s.subtask for s in segments] == [
        f"grasp {obj}",
        f"move {obj} to {target}",
        f"release {obj} on {target}",
    ]
    gripper = episode.actions[:, 6]
    close = int(np.argmax(gripper < 0.5))
    reopen = close + int(np.argmax(gripper[close:] >= 0.5))
    assert [(s.start_step, s.end_step) for s in segments] == [
        (0, close + 1),
        (close + 1, reopen),
        (reopen, episode.num_steps),
    ]
    assert parse_plan(segments[0].motion_plan).gripper.value == "close"
    assert "down" in segments[0].motion_plan
    assert parse_plan(segments[2].motion_plan).gripper.value == "open"


def _chunk(observation, subtask, gripper=(1.0,)):
    return {"observation": observation, "subtask": subtask, "gripper": list(gripper)}


def test_recorded_labeler_follows_the_subtasks_of_the_recorded_chunks():
    episode = _episode(num_steps=10)
    chunks = [
        _chunk(-1, "Reach the cup."),
        _chunk(3, "reach the cup"),
        _chunk(5, "grasp the cup"),
        _chunk(8, "lift the cup"),
    ]
    recorded = replace(episode, metadata={"policy_chunks": chunks})
    segments = RecordedLabeler().label(recorded)
    assert [(s.subtask, s.start_step, s.end_step) for s in segments] == [
        ("reach the cup", 0, 5),
        ("grasp the cup", 5, 8),
        ("lift the cup", 8, 10),
    ]
    assert all(parse_plan(s.motion_plan) for s in segments)
    with pytest.raises(SegmentError, match="heuristic"):
        RecordedLabeler().label(episode)
    blank = replace(episode, metadata={"policy_chunks": [_chunk(0, " ")]})
    with pytest.raises(SegmentError, match="no subtask"):
        RecordedLabeler().label(blank)


def test_validate_segments_names_the_problem():
    good = [Segment("a", 0, 3, "move up"), Segment("b", 3, 5, "move down")]
    assert validate_segments(good, 5) == good
    with pytest.raises(SegmentError, match="must start at 3"):
        validate_segments([good[0], Segment("b", 4, 5, "move up")], 5)
    with pytest.raises(SegmentError, match="last end_step"):
        validate_segments(good, 6)
    with pytest.raises(SegmentError, match="empty subtask"):
        validate_segments([Segment(" ", 0, 5, "move up")], 5)


class FakeTeacher:
    """An OpenAI-compatible chat server on 127.0.0.1 that plays scripted answers."""

    def __init__(self):
        self.script: list[tuple[int, str]] = []
        self.requests: list[dict] = []
        self.headers: list[dict] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.requests.append(body)
                fake.headers.append(dict(self.headers))
                status, content = fake.script.pop(0)
                if status == 200:
                    payload = {
                        "choices": [{"message": {"role": "assistant", "content": content}}],
                        "usage": {"prompt_tokens": 1000, "completion_tokens": 100},
                    }
                    data = json.dumps(payload).encode()
                else:
                    data = content.encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def teacher():
    fake = FakeTeacher()
    yield fake
    fake.close()


def _config(base_url, **overrides):
    values = {
        "base_url": base_url,
        "model": "fake-vlm",
        "api_key": "sk-test",
        "initial_backoff_s": 0.0,
        "max_attempts": 3,
        "max_frames": 4,
        "input_usd_per_mtok": 1.25,
        "output_usd_per_mtok": 10.0,
    }
    values.update(overrides)
    return TeacherConfig(**values)


def _answer(num_steps):
    split = num_steps // 2
    return json.dumps(
        {
            "segments": [
                {
                    "subtask": "Grasp the Carrot.",
                    "start_step": 0,
                    "end_step": split,
                    "motion_plan": "Move down, then slightly forward",
                },
                {
                    "subtask": "place the carrot on the plate",
                    "start_step": split,
                    "end_step": num_steps,
                    "motion_plan": "move up and open the gripper",
                },
            ]
        }
    )


def test_teacher_retries_a_bad_answer_then_validates_caches_and_counts(teacher, tmp_path):
    episode = _episode(seed=1)
    overlapping = json.dumps(
        {
            "segments": [
                {"subtask": "grasp", "start_step": 0, "end_step": 3, "motion_plan": "up"},
                {"subtask": "move", "start_step": 2, "end_step": 12, "motion_plan": "move up"},
            ]
        }
    )
    teacher.script = [(200, overlapping), (200, "```json\n" + _answer(12) + "\n```")]
    sleeps = []
    labeler = TeacherLabeler(_config(teacher.base_url), tmp_path / "cache", sleep=sleeps.append)
    segments = labeler.label(episode)

    assert [s.subtask for s in segments] == ["grasp the carrot", "place the carrot on the plate"]
    assert segments[0].motion_plan == "Move down, then slightly forward"  # its own words, kept
    assert len(teacher.requests) == 2 and len(sleeps) == 1
    first = teacher.requests[0]
    assert first["model"] == "fake-vlm" and first["response_format"] == {"type": "json_object"}
    assert teacher.headers[0]["Authorization"] == "Bearer sk-test"
    content = first["messages"][1]["content"]
    images = [c["image_url"]["url"] for c in content if c["type"] == "image_url"]
    assert len(images) == 4 and all(u.startswith("data:image/jpeg;base64,") for u in images)
    prompt = content[-1]["text"]
    assert episode.instruction in prompt and "+x is forward" in prompt and "+y is left" in prompt
    assert "step 11:" in prompt and " cm" in prompt
    retry = teacher.requests[1]["messages"]  # the bad answer and the reason went back
    assert retry[-2]["role"] == "assistant" and "must start at 3" in retry[-1]["content"]
    totals = labeler.totals()
    assert totals["requests"] == 2 and totals["invalid_answers"] == 1
    assert totals["prompt_tokens"] == 2000 and totals["completion_tokens"] == 200
    assert totals["cost_usd"] == pytest.approx((2000 * 1.25 + 200 * 10.0) / 1e6)

    again = TeacherLabeler(_config(teacher.base_url), tmp_path / "cache", sleep=sleeps.append)
    assert again.label(episode) == segments  # from the cache: no request
    assert len(teacher.requests) == 2 and again.totals()["cache_hits"] == 1


def test_teacher_retries_transient_errors_with_backoff_then_gives_up(teacher, tmp_path):
    episode = _episode(seed=2)
    teacher.script = [(503, "busy"), (429, "slow down"), (200, _answer(12))]
    sleeps = []
    config = _config(teacher.base_url, initial_backoff_s=0.5, max_backoff_s=0.75)
    labeler = TeacherLabeler(config, None, sleep=sleeps.append)
    assert len(labeler.label(episode)) == 2
    assert sleeps == [0.5, 0.75] and labeler.totals()["transport_errors"] == 2

    teacher.script = [(200, "no json here")] * 3
    with pytest.raises(EpisodeError, match=r"after 3 attempts.*no JSON object"):
        labeler.label(episode)


def test_teacher_rejected_key_is_fatal(teacher):
    teacher.script = [(401, "invalid api key")]
    labeler = TeacherLabeler(_config(teacher.base_url), None, sleep=lambda s: None)
    with pytest.raises(LabelerFatalError, match="HTTP 401"):
        labeler.label(_episode())


def test_teacher_config_from_env_and_readiness(monkeypatch):
    monkeypatch.setenv("VLM2VLA_TEACHER_BASE_URL", "http://localhost:8000/v1")
    monkeypatch.setenv("VLM2VLA_TEACHER_MODEL", "gemma")
    monkeypatch.setenv("VLM2VLA_TEACHER_API_KEY", "secret")
    config = TeacherConfig.from_env(model="other", max_frames=None)
    assert (config.base_url, config.model, config.api_key) == (
        "http://localhost:8000/v1",
        "other",
        "secret",
    )
    assert "secret" not in repr(config)
    with pytest.raises(LabelerFatalError, match="VLM2VLA_TEACHER_BASE_URL"):
        TeacherConfig(base_url="file:///etc/passwd", model="m").check_ready()
