"""credgraph: a municipal public credit information platform (公共信用信息平台) on Neo4j."""

__version__ = "0.1.0"
