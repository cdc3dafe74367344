"""Architecture names GameEye accepts (no torch import: the ONNX path checks them from a cache)."""
DETECTOR_ARCHS = ("ssd_tiny", "ssdlite320_mobilenet_v3_large", "ssd300_vgg16")
CLASSIFIER_ARCHS = ("resnet34", "resnet18")
