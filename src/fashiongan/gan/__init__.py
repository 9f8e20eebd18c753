"""The GAN that is trained: architectures, losses, conditioning, the compiled training steps, resume, devices."""
