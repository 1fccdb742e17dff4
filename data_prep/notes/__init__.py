"""Single instrument notes for the synthesizer lab: the note files of `vaelab_core.notes`.

Two sources, one path to the file:

  vaelab data notes      a General MIDI soundfont (FluidR3_GM: real sampled instruments) played by
                         FluidSynth's command line, one process per family (`render.main`)
  vaelab data defaults   the kit's own synthesis (harmonic partials, an envelope per family), so
                         that pip alone runs the lab (`synthetic.main`)

Both play the same notes (`families`: a GM program and a pitch range per family, velocities 40,
80 and 120, every fifth pitch held out) and hand waveforms and labels to `writer.write_notes`,
which takes the lab's STFT, splits, and writes the file with its manifest.

The modules:
  families     what is played: programs, ranges, velocities, labels, the split by pitch
  soundfont    a .sf2 file's header and preset list (checked before FluidSynth starts)
  synthesizer  FluidSynth's command line: the MIDI file of a family, the render, the cut
  synthetic    the built-in notes, synthesised in numpy
  writer       waveforms + labels -> spectra -> the note file; the summary
  render       `vaelab data notes`: `main`, the verb's Python API
"""

from data_prep.notes.render import NotesError, main
from data_prep.notes.soundfont import SoundfontError
from data_prep.notes.synthesizer import SynthesizerError

__all__ = ["NotesError", "SoundfontError", "SynthesizerError", "main"]
