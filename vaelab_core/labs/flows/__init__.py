"""Checks of the lab flows (normalizing flows): its four functions, two methods and its results.

`flow_checks`: one planar flow (planar_flow, constrain_u), plus `folding_example`, the flow that
folds the plane, for the notebook to show why u is constrained.
`chain_checks`: the chain of flows and its free energy (flow_chain, free_energy).
`jacobians`: what these checks share (autograd Jacobians, comparisons with hand-worked values).
`model_checks`: the speech VAE's flow posterior (FlowVAE.inference, FlowVAE.get_loss).
`result_checks`: the fitted 2-D densities and the flow VAE's runs, recorded for the grader.
"""
