"""Session-7 audit regressions of ``affectlab analyze SPEECH`` and :mod:`affectlab.audio`."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from affectlab.audio import check_signal, read_audio
from affectlab.cli import cli
from affectlab.errors import MediaReadError

pytest.importorskip("soundfile")


def test_integer_pcm_is_scaled_like_the_file_readers_do(make_tone):
    x = make_tone(0.5)
    pcm = np.round(x * 32767).astype(np.int16)
    np.testing.assert_allclose(check_signal(pcm, 16000), x, atol=1e-4)
    np.testing.assert_allclose(check_signal(pcm.astype(np.int32) << 16, 16000), x, atol=1e-4)
    u8 = (np.round(x * 127) + 128).astype(np.uint8)
    np.testing.assert_allclose(check_signal(u8, 16000), x, atol=1e-2)
    # hand-computed: full scale of int16 is 32768
    assert check_signal(np.array([16384, -32768, 0] * 2000, np.int16), 16000)[:3].tolist() == [0.5, -1.0, 0.0]


def test_speech_analyzer_gives_the_same_answer_for_int16_and_float(write_wav, make_tone):
    pytest.importorskip("opensmile")
    import soundfile as sf

    from affectlab.audio.analyze import SpeechAnalyzer

    path = write_wav("tone.wav", make_tone(1.0))
    analyzer = SpeechAnalyzer()
    as_float, _ = sf.read(str(path), dtype="float32")
    as_int16, _ = sf.read(str(path), dtype="int16")
    a, b = analyzer.analyze_signal(as_float), analyzer.analyze_signal(as_int16)
    assert a.label == b.label
    for c in a.probabilities:  # before: int16 amplitudes of +-30000 went to openSMILE unscaled
        assert b.probabilities[c] == pytest.approx(a.probabilities[c], abs=1e-3)


def test_non_numeric_signal_is_a_media_error():
    with pytest.raises(MediaReadError, match=r"^s\.wav: not a numeric audio signal"):
        check_signal(np.array(["a", "b"]), 16000, source="s.wav")


def test_existing_non_audio_mp3_is_not_reported_as_missing(tmp_path):
    fake = tmp_path / "fake.mp3"
    fake.write_text("hello, I am text")
    with pytest.raises(MediaReadError) as info:
        read_audio(fake)
    message = str(info.value)
    assert message.startswith(f"{fake}: cannot read audio")
    assert "does not exist" not in message  # libsndfile's words for an mpg123 failure


def test_empty_audio_file_says_empty(tmp_path):
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    with pytest.raises(MediaReadError, match=r"empty\.wav: empty file$"):
        read_audio(empty)


def test_truncated_flac_names_the_file_and_the_problem(tmp_path, write_wav, make_tone):
    good = write_wav("tone.flac", make_tone(1.0))
    bad = tmp_path / "cut.flac"
    bad.write_bytes(good.read_bytes()[:3000])
    with pytest.raises(MediaReadError, match=r"cut\.flac: cannot read audio \(corrupt, truncated"):
        read_audio(bad)


def test_cli_bad_mp3_among_good_files(tmp_path, write_wav, make_tone):
    pytest.importorskip("opensmile")
    good = write_wav("good.wav", make_tone(1.0))
    fake = tmp_path / "fake.mp3"
    fake.write_text("not audio")
    result = CliRunner().invoke(cli, ["analyze", str(fake), str(good), "--no-progress"])
    assert result.exit_code == 1
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["status"] for r in records] == ["error", "ok"]
    assert records[0]["error"].startswith(f"{fake}: cannot read audio") and "does not exist" not in records[0]["error"]
    assert f"affectlab: error: {fake}: cannot read audio" in result.stderr


def test_constant_offset_counts_as_silence(write_wav, make_tone):
    with pytest.raises(MediaReadError, match=r"dc\.wav: silent audio"):
        check_signal(np.full(16000, 0.5, np.float32), 16000, source="dc.wav")  # before: analysed as 'sadness'
    path = write_wav("dc.wav", np.full(16000, 0.25, np.float32))
    with pytest.raises(MediaReadError, match="silent audio"):
        read_audio(path)
    # speech riding on an offset is still speech
    x = make_tone(0.5) + np.float32(0.2)
    np.testing.assert_array_equal(check_signal(x, 16000), x)


def test_cli_speech_output_into_a_missing_folder_is_created(tmp_path, write_wav, make_tone):
    pytest.importorskip("opensmile")
    good = write_wav("good.wav", make_tone(1.0))
    out = tmp_path / "new" / "r.jsonl"  # before: FileNotFoundError traceback
    result = CliRunner().invoke(cli, ["analyze", str(good), "--no-progress", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["status"] for line in out.read_text().splitlines()] == ["ok"]
