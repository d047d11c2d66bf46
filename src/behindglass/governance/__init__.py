"""behindglass.governance"""
