"""``python -m training.imagespace``: render the training set into the cache."""

from training.imagespace.cache import main

if __name__ == "__main__":
    main()
