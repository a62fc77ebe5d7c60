"""The model stage of the tag pipeline: deployed ONNX models scoring machines from their harmonized values.

``model`` loads and checks a deployed model version (onnxruntime), ``windows`` keeps each input
tag's recent values, ``stage`` scores on a fixed interval and hands the scores to the pipeline as
ordinary harmonized values. Only ``model`` imports onnxruntime: the pipeline imports none of it,
so a gateway without models loads neither onnxruntime nor numpy.
"""
