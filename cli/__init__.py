"""The ``gibbsnet`` command line (import name ``gibbsnet_cli``): a thin shell over gibbsnet_plugin."""
