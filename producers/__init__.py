"""The emitting SDK; runs on Python 3.10+ (DCC tools' embedded Pythons), see README."""
