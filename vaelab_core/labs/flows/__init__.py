"""Checks of the lab flows (normalizing flows): its four functions, two methods and its results.

`flow_checks`: the planar flow (planar_flow, constrain_u, flow_chain, free_energy), plus
`folding_example`, the flow that folds the plane, for the notebook to show why u is constrained.
`model_checks`: the speech VAE's flow posterior (FlowVAE.inference, FlowVAE.get_loss).
`result_checks`: the fitted 2-D densities and the flow VAE's runs, recorded for the grader.
"""
