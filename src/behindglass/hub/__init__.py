"""behindglass.hub"""
