"""Pictures for people, never for the device's loop: replay timelines (``plots``) and
slow-motion slip animations (``animation``); matplotlib/Pillow are the ``viz`` extra."""
