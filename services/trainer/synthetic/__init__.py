"""Synthetic data in the simulator's formats (``trainer generate-data``).

- :mod:`~trainer.synthetic.presets`: the parameters (presets small/default/full, overrides);
- :mod:`~trainer.synthetic.world`: the hidden world of users and movies (importable on its own);
- :mod:`~trainer.synthetic.samplers`: what the users watch and rate, and when;
- :mod:`~trainer.synthetic.logwriter`: those events as event-log files;
- :mod:`~trainer.synthetic.generate`: ``generate()``, all of it into a data directory.
"""
