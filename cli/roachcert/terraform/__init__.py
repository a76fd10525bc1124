"""Everything that knows Terraform: which engine runs (`engine`, `shim`), the one runner that starts it
(`runner`) and what its failures mean (`errors`), the root module it reads (`module`, quoted by `hcl`, named
by `resources`), the folder it runs in (`workdir`) and the plan document it writes (`plan_json`).

Empty on purpose: importing one part does not load the others.
"""
