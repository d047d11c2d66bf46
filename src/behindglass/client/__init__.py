"""behindglass.client"""
