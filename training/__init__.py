"""Training-data generator, training and int8 export of the micro-event model."""
