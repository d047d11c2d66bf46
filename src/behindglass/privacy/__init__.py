"""behindglass.privacy"""
