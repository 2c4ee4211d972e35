"""A local stand-in for the Kubernetes API server, limited to Deployments and their `scale` subresource.

No test of the autoscaler uses it any more: they run on a real kube-apiserver (`kep services start k8s`), which
gives every answer the scaler handles (409, 404, 403, 401, unreachable, a restart) for real. It stays only for its
own tests (tests/doubles/test_kubernetes_server.py) and can go with them.
"""
