"""behindglass.site"""
