# CV Studio's hook for torchvision (takes precedence over pyinstaller-hooks-contrib's).
#
# torchvision's compiled ops (nms, roi_align, deform_conv2d, ...) live in
# torchvision/_C_stable.so (torchvision >= 0.29; _C.so before), which
# torchvision/extension.py loads with torch.ops.load_library() from the package
# folder -- not with an import statement, so PyInstaller's analysis never sees
# it, and the contrib hook's hiddenimports = ['torchvision._C'] names a module
# that no longer exists. Without the file the bundle starts and then fails with
# "operator torchvision::nms does not exist". Collect every shared library of
# the package into torchvision/ (where extension.py looks) and its vendored
# libraries (torchvision.libs: libjpeg, libpng, libwebp, nvjpeg, cudart).

from PyInstaller.utils.hooks import collect_dynamic_libs

module_collection_mode = "pyz+py"  # TorchScript and torch._dynamo read sources of torchvision modules

binaries = collect_dynamic_libs("torchvision", search_patterns=["*.so", "*.so.*", "*.pyd", "*.dll", "*.dylib"])
