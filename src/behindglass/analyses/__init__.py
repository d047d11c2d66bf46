"""behindglass.analyses"""
