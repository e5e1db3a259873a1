"""Anatomy stage: CT or phantom -> airway segmentation -> meshes + centerline -> AirwayScene."""
