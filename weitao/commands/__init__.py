"""Sub-commands of the `weitao` CLI; each module registers its commands on the root app."""
