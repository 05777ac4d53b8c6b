"""apiextensions.k8s.io/v1 CustomResourceDefinition (k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1).

The OpenAPI v3 schema of each version is kept as the JSON it is (`openAPIV3Schema`): it is
checked for being structural by kubelite.api.crd.schema, which also validates, defaults and
prunes custom objects with it."""

from typing import Any

from kubelite.api.base import Model
from kubelite.api.meta import Condition, Object
from kubelite.api.scheme import ResourceInfo, register

GROUP = "apiextensions.k8s.io"


class CustomResourceDefinitionNames(Model):
    plural: str | None = None
    singular: str | None = None
    shortNames: list[str] | None = None
    kind: str | None = None
    listKind: str | None = None
    categories: list[str] | None = None


class CustomResourceValidation(Model):
    openAPIV3Schema: dict[str, Any] | None = None


class CustomResourceSubresourceScale(Model):
    specReplicasPath: str | None = None
    statusReplicasPath: str | None = None
    labelSelectorPath: str | None = None


class CustomResourceSubresources(Model):
    status: dict[str, Any] | None = None  # {} enables it
    scale: CustomResourceSubresourceScale | None = None


class CustomResourceColumnDefinition(Model):
    name: str | None = None
    type: str | None = None  # integer number string boolean date
    format: str | None = None
    description: str | None = None
    priority: int | None = None
    jsonPath: str | None = None


class CustomResourceDefinitionVersion(Model):
    name: str | None = None
    served: bool | None = None
    storage: bool | None = None
    deprecated: bool | None = None
    deprecationWarning: str | None = None
    schema: CustomResourceValidation | None = None
    subresources: CustomResourceSubresources | None = None
    additionalPrinterColumns: list[CustomResourceColumnDefinition] | None = None
    selectableFields: list[dict[str, Any]] | None = None


class CustomResourceConversion(Model):
    strategy: str | None = None  # None | Webhook (refused)
    webhook: dict[str, Any] | None = None


class CustomResourceDefinitionSpec(Model):
    group: str | None = None
    names: CustomResourceDefinitionNames | None = None
    scope: str | None = None  # Namespaced | Cluster
    versions: list[CustomResourceDefinitionVersion] | None = None
    conversion: CustomResourceConversion | None = None
    preserveUnknownFields: bool | None = None


class CustomResourceDefinitionStatus(Model):
    conditions: list[Condition] | None = None
    acceptedNames: CustomResourceDefinitionNames | None = None
    storedVersions: list[str] | None = None


class CustomResourceDefinition(Object):
    spec: CustomResourceDefinitionSpec | None = None
    status: CustomResourceDefinitionStatus | None = None


CUSTOMRESOURCEDEFINITIONS = register(ResourceInfo(
    group=GROUP, version="v1", kind="CustomResourceDefinition", plural="customresourcedefinitions",
    singular="customresourcedefinition", namespaced=False, type=CustomResourceDefinition,
    short_names=("crd", "crds"), subresources=("status",), categories=("api-extensions",),
))
