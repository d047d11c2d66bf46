"""behindglass.cli"""
