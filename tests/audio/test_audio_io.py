from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from affectlab.audio.io import (
    AUDIO_SUFFIXES,
    QUIET_DECODERS_ENV,
    check_signal,
    is_audio_path,
    read_audio,
    resample,
    to_mono,
)
from affectlab.cli import cli
from affectlab.errors import MediaReadError

pytest.importorskip("soundfile")
pytest.importorskip("soxr")


def test_wav_is_resampled_to_16k_mono(write_wav, make_tone):
    path = write_wav("a.wav", make_tone(1.0, rate=22050), rate=22050)
    x = read_audio(path)
    assert x.dtype == np.float32 and x.ndim == 1
    assert x.shape[0] == 16000


def test_stereo_is_mixed_down_by_the_mean(write_wav, make_tone):
    left = make_tone(0.5, seed=1)
    stereo = np.column_stack([left, np.zeros_like(left)])
    x = read_audio(write_wav("s.wav", stereo))
    assert np.allclose(x, left / 2, atol=2e-4)  # 16-bit quantisation


def test_flac_and_ogg_read(write_wav, make_tone):
    for name in ("a.flac", "a.ogg"):
        x = read_audio(write_wav(name, make_tone(0.6), rate=16000))
        assert abs(x.shape[0] - 9600) <= 1


def test_mp3_read_when_libsndfile_has_it(write_wav, make_tone):
    import soundfile as sf

    if "MP3" not in sf.available_formats():
        pytest.skip("this libsndfile has no MP3 support")
    x = read_audio(write_wav("a.mp3", make_tone(1.0, rate=22050), rate=22050))
    assert abs(x.shape[0] - 16000) <= 1200  # mp3 frames pad the ends a little


def test_resample_keeps_a_tone_and_length():
    rate = 48000
    t = np.arange(rate) / rate
    y = resample(np.sin(2 * np.pi * 440 * t), rate, 16000)
    assert y.shape == (16000,)
    spectrum = np.abs(np.fft.rfft(y))
    assert abs(int(np.argmax(spectrum)) - 440) <= 1  # 1 Hz bins


def test_to_mono_rejects_3d():
    with pytest.raises(ValueError):
        to_mono(np.zeros((2, 2, 2)))


def _corrupt_mp3(tmp_path):
    import soundfile as sf

    if "MP3" not in sf.available_formats():
        pytest.skip("this libsndfile has no MP3 support")
    bad = tmp_path / "bad.mp3"
    bad.write_bytes(np.random.default_rng(0).integers(0, 256, 2000, dtype=np.uint8).tobytes())
    return bad


def test_decoder_notes_on_stderr_are_dropped_only_on_request(tmp_path, capfd, monkeypatch):
    bad = _corrupt_mp3(tmp_path)
    monkeypatch.delenv(QUIET_DECODERS_ENV, raising=False)
    with pytest.raises(MediaReadError, match="bad.mp3: cannot read audio"):
        read_audio(bad)
    if "MPEG" not in capfd.readouterr().err:
        pytest.skip("this mpg123 prints no notes for the file")
    monkeypatch.setenv(QUIET_DECODERS_ENV, "1")
    with pytest.raises(MediaReadError, match="bad.mp3: cannot read audio"):
        read_audio(bad)
    os.write(2, b"stderr is back\n")
    assert capfd.readouterr().err == "stderr is back\n"


def test_cli_error_for_a_corrupt_mp3_is_one_line(tmp_path):
    bad = _corrupt_mp3(tmp_path)
    env = {k: v for k, v in os.environ.items() if k != QUIET_DECODERS_ENV}
    code = "import sys; from affectlab.cli import main; sys.exit(main())"
    done = subprocess.run([sys.executable, "-c", code, "analyze", "--no-progress", str(bad)], capture_output=True,
                          text=True, env=env, timeout=300)
    assert done.returncode == 1
    assert [line for line in done.stderr.splitlines() if line.strip()] == [
        f"affectlab: error: {bad}: cannot read audio (corrupt, truncated or unsupported format: the data could not "
        "be decoded)"]


def test_missing_file(tmp_path):
    with pytest.raises(MediaReadError, match="file not found"):
        read_audio(tmp_path / "nope.wav")


def test_unreadable_file_names_it(tmp_path):
    bad = tmp_path / "bad.wav"
    bad.write_text("not audio")
    with pytest.raises(MediaReadError, match="bad.wav: cannot read audio"):
        read_audio(bad)


def test_empty_file(write_wav):
    with pytest.raises(MediaReadError, match="empty audio"):
        read_audio(write_wav("e.wav", np.zeros(0, np.float32)))


def test_silent_file(write_wav):
    with pytest.raises(MediaReadError, match="silent audio"):
        read_audio(write_wav("z.wav", np.zeros(16000, np.float32)))


def test_too_short_file(write_wav, make_tone):
    with pytest.raises(MediaReadError, match=r"too short \(0\.100 s"):
        read_audio(write_wav("short.wav", make_tone(0.1)))
    assert read_audio(write_wav("short2.wav", make_tone(0.1)), min_duration=0.05).shape == (1600,)


def test_check_signal_rejects_nan():
    x = np.ones(16000, np.float32)
    x[3] = np.nan
    with pytest.raises(MediaReadError, match="NaN"):
        check_signal(x, 16000, source="x")


def test_audio_suffixes():
    assert {".wav", ".flac", ".mp3", ".ogg"} <= AUDIO_SUFFIXES
    assert is_audio_path("X.MP3") and not is_audio_path("x.jpg")


def test_integer_pcm_is_scaled_like_the_file_readers_do(make_tone):
    x = make_tone(0.5)
    pcm = np.round(x * 32767).astype(np.int16)
    np.testing.assert_allclose(check_signal(pcm, 16000), x, atol=1e-4)
    np.testing.assert_allclose(check_signal(pcm.astype(np.int32) << 16, 16000), x, atol=1e-4)
    u8 = (np.round(x * 127) + 128).astype(np.uint8)
    np.testing.assert_allclose(check_signal(u8, 16000), x, atol=1e-2)
    # hand-computed: full scale of int16 is 32768
    assert check_signal(np.array([16384, -32768, 0] * 2000, np.int16), 16000)[:3].tolist() == [0.5, -1.0, 0.0]


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
