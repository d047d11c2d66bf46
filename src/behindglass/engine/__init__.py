"""behindglass.engine"""
