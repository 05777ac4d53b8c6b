"""The object model: Kubernetes kinds as msgspec Structs.

Field names are the Kubernetes JSON names (camelCase) so code, YAML and the
wire read the same. Every Struct forbids unknown fields (strict decoding, as
Kubernetes' strict field validation) and omits unset fields when encoded.
"""
