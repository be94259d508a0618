"""Streaming on a real ROS graph: every node a process, real DDS (graph_harness.py).

The scripted model writes the chunk piece by piece, so each test knows what the model writes and
when. The faults (a process killed, a stalled camera, an e-stop, a latched instruction after a
restart) are in test_faults.py.
"""

import time

import pytest
from graph_harness import SIX_STEPS, ScriptedModel, chunk_text

pytestmark = pytest.mark.slow


def test_a_the_first_command_leaves_before_the_model_has_written_the_last_step(graph):
    observer = graph.observer
    model = ScriptedModel(SIX_STEPS, piece_delay_s=0.12)  # ~4 s to write the chunk
    graph.start(model)
    observer.wait_ready()
    observer.say()
    final = observer.final("done")
    assert not final.verified, "verifier:=none: done, but nothing was verified"
    assert model.chunk_sent_s, "the chunk was never streamed"
    first_command = observer.commands[0]
    assert first_command < model.chunk_sent_s[0], (
        f"first arm command {first_command - model.chunk_sent_s[0]:+.2f} s after the chunk's "
        "last step was sent: the arm waited for the whole chunk"
    )
    assert final.first_step_s < final.chunk_s / 2, "the first step came late in the generation"
    assert len(observer.commands) == 6, (
        f"six 0.5 cm steps take one control period each: {observer.commands_seen()}"
    )
    assert observer.chunks[-1].raw_text == SIX_STEPS


def test_b_malformed_after_two_steps_executes_exactly_two(graph):
    observer = graph.observer
    bad = chunk_text([(0.5, 0, 0, 1), (0, 0.5, 0, 1)])[:-1] + ", [oops, 0, 0, 1]]"
    graph.start(ScriptedModel(bad, piece_delay_s=0.05), "max_retries_per_subtask:=0")
    observer.wait_ready()
    observer.say()
    final = observer.final("failed")
    time.sleep(1.5)  # anything still queued would move now
    assert len(observer.commands) == 2, f"expected 2: {observer.commands_seen()}"
    assert "after 2 step(s)" in final.last_error
    assert "[0.0, 0.5, 0.0, 1], [o" in final.last_error, "the status quotes the raw text"
    assert len(observer.chunks) == 1
    assert len(observer.chunks[0].translations_m) == 2
