"""Training-data synthesis: MIDI sources (procedural arranger, MIDI folders, the music21 corpus),
FluidSynth rendering, per-stem effects and the Slakh2100-layout writer.

``synthesize(SynthConfig(...))`` is the entry point the ``stemscribe synth`` command calls;
``benchmark.throughput_benchmark`` and ``benchmark.alignment_check`` measure speed and label timing.
"""
from .generate import SynthConfig, SynthReport, synthesize

__all__ = ["SynthConfig", "SynthReport", "synthesize"]
