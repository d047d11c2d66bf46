"""behindglass.lhs"""
