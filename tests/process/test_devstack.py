"""The README's run command: Synapse, the sandbox gateway and the bridge on SQLite, with a demo
account and simulated contacts; Ctrl-C stops everything."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time

import pytest

from bridge.devstack.ports import free_port

pytestmark = pytest.mark.synapse


async def test_devstack_starts_prints_login_and_stops(tmp_path):
    log_path = tmp_path / "devstack.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "bridge.devstack", "--data", str(tmp_path / "data"),
         "--synapse-port", str(free_port()), "--bridge-port", str(free_port()),
         "--sandbox-port", str(free_port())],
        stdout=log_path.open("wb"), stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 90
        while "The local stack is running" not in log_path.read_text():
            assert process.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, log_path.read_text()
            await asyncio.sleep(0.3)
        output = log_path.read_text()
        assert "@demo:localhost" in output and "demo-password" in output
        assert "simulated gatekeeper users: gina, hugo" in output
        assert (tmp_path / "data" / "bridge" / "bridge.db").exists()
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
        assert "Stopped" in log_path.read_text()
    finally:
        if process.poll() is None:
            process.kill()


STEPS = [
    ("gina → Matrix", "text with formatting and a mention"), ("gina → Matrix", "an image"),
    ("gina → Matrix", "a video"), ("gina → Matrix", "a voice note"),
    ("gina → Matrix", "an audio file"), ("gina → Matrix", "a file"),
    ("gina → Matrix", "a location"), ("gina → Matrix", "a reply"),
    ("gina → Matrix", "an edit"), ("gina → Matrix", "a reaction and its removal"),
    ("gina → Matrix", "a deletion"), ("gina → Matrix", "a read receipt"),
    ("gina → Matrix", "typing"),
    ("demo → gina", "text with formatting and a mention"), ("demo → gina", "an image"),
    ("demo → gina", "a video"), ("demo → gina", "a voice note"),
    ("demo → gina", "an audio file"), ("demo → gina", "a file"), ("demo → gina", "a location"),
    ("demo → gina", "a reply"), ("demo → gina", "an edit"),
    ("demo → gina", "a reaction and its removal"), ("demo → gina", "a deletion"),
    ("demo → gina", "a delivery receipt (automatic)"), ("demo → gina", "a read receipt"),
    ("demo → gina", "typing"),
]


async def test_scripted_demo_plays_every_message_type_both_ways(tmp_path):
    """`--demo`: the transcript has every step, each seen by the other side, and exit code 0."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bridge.devstack", "--demo", "--data", str(tmp_path / "data"),
        "--synapse-port", str(free_port()), "--bridge-port", str(free_port()),
        "--sandbox-port", str(free_port()),
        stdout=asyncio.subprocess.PIPE, stderr=(tmp_path / "stderr.log").open("wb"))
    try:
        stdout, _ = await asyncio.wait_for(process.communicate(), 540)
    finally:
        if process.returncode is None:
            process.kill()
    transcript = stdout.decode()
    assert process.returncode == 0, transcript + (tmp_path / "stderr.log").read_text()[-3000:]
    lines = transcript.splitlines()
    for sender_receiver, what in STEPS:
        [index] = [i for i, line in enumerate(lines)
                   if line.endswith(f"] {sender_receiver}: {what}")]
        receiver = sender_receiver.split(" → ")[1]
        assert lines[index + 1].split()[:3] == ["ok", receiver, "saw:"], lines[index + 1]
    assert "MISSING" not in transcript
    assert f"All {len(STEPS)} steps arrived on the other side." in transcript
    # What each side saw, in words: formatting and mentions survive both ways, files verify.
    assert "<strong>Hello</strong>" in transcript and "*Hi* @gina, _how_ are ~you~?" in transcript
    assert transcript.count("fetched, verified and decrypted") == 5
    assert "(voice message)" in transcript and "audio (voice note)" in transcript


async def test_a_step_that_does_not_arrive_is_reported_and_fails_the_demo():
    import io

    from bridge.devstack.demo import Missing, Transcript

    out = io.StringIO()
    transcript = Transcript(out)

    async def arrives() -> str:
        return "it"

    async def never() -> str:
        raise Missing("no text")

    await transcript.step("demo", "gina", "a text", arrives)
    await transcript.step("gina", "Matrix", "a text", never)
    assert transcript.missing == ["a text: no text"]
    assert "     ok       gina saw: it" in out.getvalue()
    assert "     MISSING  Matrix did not see it (no text)" in out.getvalue()
