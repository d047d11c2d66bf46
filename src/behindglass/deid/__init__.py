"""behindglass.deid"""
