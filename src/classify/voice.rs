//! Did the customer speak into a recording? Measured from the audio itself: Asterisk's
//! `talking_duration` is whole seconds and unreliable (the reference traces have a
//! spoken answer at 0 and a silent one at 1), so it never decides `silence`.

use std::io::Cursor;

/// Length of one analysis frame.
const FRAME_MS: u64 = 20;
/// A frame louder than this (RMS, about -40 dBFS) holds voice; telephone line noise and
/// comfort noise sit well below it, speech well above.
const VOICE_RMS: f64 = 328.0;
/// Less voice than this in all (a click, a breath) is no answer: a record's `silence`,
/// and a classification's `empty` without asking the speech-to-text provider. One line
/// for both, so a customer a record node heard is never dropped by classify. Real short
/// answers sit well above it (the shortest of shared/audio/customer, "hello", holds
/// 480 ms), and a false `empty` loses a customer's answer while a false "voice" only
/// costs one provider request.
pub const MIN_VOICE_MS: u64 = 100;

/// Why a recording's voice cannot be measured.
#[derive(Debug, thiserror::Error)]
pub enum VoiceError {
    #[error("not a readable WAV: {0}")]
    Wav(#[from] hound::Error),
    #[error("the WAV's data is shorter than its header says")]
    Truncated,
    #[error("{bits}-bit {format:?} audio; recordings are 16-bit PCM")]
    Format {
        bits: u16,
        format: hound::SampleFormat,
    },
}

/// Milliseconds of voice in a WAV recording (16-bit PCM, any rate, channels mixed):
/// 0 when there is less than `MIN_VOICE_MS` of it. An error when the bytes are not
/// such a WAV.
pub fn voiced_ms(wav: &[u8]) -> Result<u64, VoiceError> {
    let reader = hound::WavReader::new(Cursor::new(wav))?;
    let spec = reader.spec();
    if spec.sample_format != hound::SampleFormat::Int || spec.bits_per_sample != 16 {
        return Err(VoiceError::Format {
            bits: spec.bits_per_sample,
            format: spec.sample_format,
        });
    }
    let channels = usize::from(spec.channels.max(1));
    let per_frame = (u64::from(spec.sample_rate) * FRAME_MS / 1000).max(1) as usize * channels;
    let samples = reader.len() as usize;
    // hound has read the header and stands at the first sample: the samples are the
    // next `2 * samples` bytes, little-endian. Read as a slice, not sample by sample
    // through `io::Read` (a recording is tens of thousands of samples, on every call).
    let start = reader.into_inner().position() as usize;
    let data = wav
        .get(start..start.saturating_add(samples * 2))
        .ok_or(VoiceError::Truncated)?;
    // Whole frames in integers: a frame is voiced when its mean square passes the line.
    let threshold = (VOICE_RMS * VOICE_RMS) as i64 * per_frame as i64;
    let mut voiced = 0u64;
    for frame in data.chunks_exact(per_frame * 2) {
        let energy: i64 = frame
            .chunks_exact(2)
            .map(|b| i64::from(i16::from_le_bytes([b[0], b[1]])).pow(2))
            .sum();
        if energy > threshold {
            voiced += FRAME_MS;
        }
    }
    Ok(if voiced < MIN_VOICE_MS { 0 } else { voiced })
}

/// Whether a WAV recording holds no answer (under `MIN_VOICE_MS` of voice), so that
/// classifying it needs no speech-to-text. An error when it is not 16-bit PCM WAV.
pub fn is_silent(wav: &[u8]) -> Result<bool, VoiceError> {
    Ok(voiced_ms(wav)? == 0)
}

/// A WAV of `ms` milliseconds at 8 kHz: a 300 Hz tone of `amplitude` (0 for silence).
/// What the simulated PBX stores for a recording, and what tests measure.
pub fn tone_wav(ms: u64, amplitude: i16) -> Vec<u8> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 8_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut cursor = Cursor::new(Vec::new());
    // Writing to memory cannot fail.
    if let Ok(mut writer) = hound::WavWriter::new(&mut cursor, spec) {
        for i in 0..ms * 8 {
            let phase = i as f64 * 300.0 * std::f64::consts::TAU / 8_000.0;
            let _ = writer.write_sample((phase.sin() * f64::from(amplitude)) as i16);
        }
        let _ = writer.finalize();
    }
    cursor.into_inner()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silence_and_line_noise_are_no_voice() {
        assert_eq!(voiced_ms(&tone_wav(2_000, 0)).unwrap(), 0);
        // About -55 dBFS.
        assert_eq!(voiced_ms(&tone_wav(2_000, 80)).unwrap(), 0);
        // A click: 40 ms.
        assert_eq!(voiced_ms(&tone_wav(40, 8_000)).unwrap(), 0);
    }

    #[test]
    fn a_tone_is_voice_for_its_length() {
        assert_eq!(voiced_ms(&tone_wav(600, 8_000)).unwrap(), 600);
    }

    #[test]
    fn the_customers_recorded_speech_is_voice() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/audio/customer");
        let mut checked = 0;
        for entry in std::fs::read_dir(&dir).expect("shared/audio/customer") {
            let path = entry.unwrap().path();
            let bytes = std::fs::read(&path).unwrap();
            let ms = voiced_ms(&bytes).unwrap();
            assert!(ms >= 300, "{}: {ms} ms of voice", path.display());
            assert!(!is_silent(&bytes).unwrap(), "{}", path.display());
            checked += 1;
        }
        assert!(checked >= 5);
    }

    /// 8 kHz audio of `(ms, amplitude)` stretches of a 300 Hz tone, one after another.
    fn stretches(parts: &[(u64, i16)]) -> Vec<u8> {
        let mut samples = Vec::new();
        for &(ms, amplitude) in parts {
            let wav = tone_wav(ms, amplitude);
            let reader = hound::WavReader::new(Cursor::new(wav)).unwrap();
            samples.extend(reader.into_samples::<i16>().map(Result::unwrap));
        }
        let spec = hound::WavReader::new(Cursor::new(tone_wav(0, 0)))
            .unwrap()
            .spec();
        let mut cursor = Cursor::new(Vec::new());
        let mut writer = hound::WavWriter::new(&mut cursor, spec).unwrap();
        samples
            .iter()
            .for_each(|s| writer.write_sample(*s).unwrap());
        writer.finalize().unwrap();
        cursor.into_inner()
    }

    #[test]
    fn under_the_threshold_a_recording_is_silent_for_speech_to_text() {
        // Silence, line noise (about -55 dBFS) and a click in ten seconds of silence.
        assert!(is_silent(&tone_wav(10_000, 0)).unwrap());
        assert!(is_silent(&tone_wav(10_000, 80)).unwrap());
        let click = stretches(&[(3_000, 0), (MIN_VOICE_MS - 20, 8_000), (7_000, 0)]);
        assert!(is_silent(&click).unwrap());
        // At the threshold it is voice, however much silence surrounds it.
        let word = stretches(&[(3_000, 0), (MIN_VOICE_MS, 8_000), (7_000, 0)]);
        assert!(!is_silent(&word).unwrap());
        assert_eq!(voiced_ms(&word).unwrap(), MIN_VOICE_MS);
        // Quiet speech (about -30 dBFS) is voice too.
        assert!(!is_silent(&tone_wav(300, 1_500)).unwrap());
    }

    #[test]
    fn what_is_not_16_bit_pcm_is_an_error() {
        assert!(is_silent(b"not a wav").is_err());
        assert!(voiced_ms(b"not a wav").is_err());
    }

    #[test]
    fn a_wav_cut_short_of_its_header_is_an_error_not_a_guess() {
        let wav = tone_wav(1_000, 8_000);
        let cut = &wav[..wav.len() - 100];
        assert!(matches!(voiced_ms(cut), Err(VoiceError::Truncated)));
    }
}
