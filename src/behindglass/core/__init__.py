"""behindglass.core"""
