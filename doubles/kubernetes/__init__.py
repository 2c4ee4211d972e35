"""A local stand-in for the Kubernetes API server, limited to Deployments and their `scale` subresource."""
