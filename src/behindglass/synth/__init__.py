"""behindglass.synth"""
