"""behindglass.web"""
