"""`vaelab data synth`: synthetic speakers made with the source-filter model of speech.

Speech is a source (the glottal airflow, or turbulent noise at a constriction) shaped by a
filter (the resonances of the vocal tract, the formants) and radiated at the lips (Fant 1960,
"Acoustic Theory of Speech Production"). This package builds each part from a few numbers per
voice and writes recordings that `vaelab data build` reads like real ones:

  OUT/<voice>/<voice>-0-<NNNN>.wav           16 kHz 16-bit PCM, 8-15 s each, LibriSpeech-style
                                             names READER-CHAPTER-UTTERANCE (reader = voice)
  OUT/<voice>/<voice>-0-<NNNN>.labels.npz    per STFT frame (one per HOP_LENGTH samples, frame t
                                             centred on sample t * HOP_LENGTH, as in the lab's
                                             STFT): f0_hz (frames,), 0 when unvoiced;
                                             formants_hz (frames, 4); voiced (frames,) bool
  OUT/synth_manifest.json                    voices, seed, minutes, files with sha256, versions

Everything is drawn from seeded generators: the same arguments give the same bytes (on the
same platform and library versions). A voice's audio depends only on the seed and its name
(built-ins) or its index (--count), not on which other voices are made in the same run.

The modules, in the order an utterance is made:
  voices        who speaks: `Voice`, the built-in A and B, varied voices for --count
  plan          what is said when: control tracks per utterance, its labels, utterance lengths
  source        glottal pulses (Rosenberg 1971) and frication noise
  vocal_filter  the formant cascade (Klatt 1980), re-tuned as the tract moves
  utterance     one utterance: plan -> source -> filter, mixed (`synthesize_utterance`)
  writer        files, labels and manifest on disk; `main`, the verb's Python API
"""

from data_prep.synth.plan import utterance_lengths
from data_prep.synth.utterance import synthesize_utterance
from data_prep.synth.voices import BUILT_IN, SynthError, Voice, varied_voice
from data_prep.synth.writer import main

__all__ = ["BUILT_IN", "SynthError", "Voice", "main", "synthesize_utterance", "utterance_lengths",
           "varied_voice"]
