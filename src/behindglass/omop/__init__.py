"""behindglass.omop"""
