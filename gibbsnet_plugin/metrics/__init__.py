"""Evaluation metrics, one module each: FID (``fid``, ``inception``), reconstruction and
inpainting scores (``scores``), the linear probe (``probe``), mode coverage (``modes``) and latent
maps (``latent_maps``). Their names and score names are in ``gibbsnet_plugin.metric_names``.
"""
