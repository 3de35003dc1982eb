"""Reading training data into :class:`trainer.loaders.frames.RawData`.

- :mod:`~trainer.loaders.source`: which data (simulator format or MovieLens) and which loader;
- :mod:`~trainer.loaders.eventlog`: the simulator's event log (the Kafka lines);
- :mod:`~trainer.loaders.tables`: users.csv, movies.csv, and a whole simulator directory;
- :mod:`~trainer.loaders.movielens`: a MovieLens-100K directory;
- shared by them: :mod:`~trainer.loaders.lines` (the line reader), :mod:`~trainer.loaders.report`
  (the parse report and the malformed-input limit), :mod:`~trainer.loaders.frames` (the frames
  they return).
"""
