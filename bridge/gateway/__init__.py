"""The client side of the gatekeeper's interoperability gateway protocol (codec, Noise channel,
enlistment, partner-server endpoints). Wire encoding stays behind one codec interface."""
