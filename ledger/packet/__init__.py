"""Delivery packets: a locked cut's disclosure with its signed evidence, checkable offline."""
