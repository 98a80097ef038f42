# Build CV Studio's Windows installer: dist\CVStudio-<version>-setup.exe
#
#   powershell -ExecutionPolicy Bypass -File packaging\windows\build.ps1            # CPU (PyPI's torch)
#   powershell -ExecutionPolicy Bypass -File packaging\windows\build.ps1 -Cuda      # NVIDIA GPUs (cu130 wheels)
#
# Needs: Python 3.11 x64 from python.org (the `py` launcher), Inno Setup 6 (iscc.exe on PATH or in its
# default folder). Steps: a build venv (packaging\.build-venv) with the pinned stack, the project as a
# wheel, PyInstaller with packaging\cvstudio.spec (dist\cvstudio\: cvstudio.exe without a console window,
# cvstudio-cli.exe for a terminal), `cvstudio-cli --self-test`, then Inno Setup (cvstudio.iss).
# NOT TESTED: written on Linux, where it cannot run (see README, "Installing / packaging").
param([switch]$Cuda, [string]$Python = "3.11")
$ErrorActionPreference = "Stop"
Set-Location (Join-Path $PSScriptRoot "..\..")

$venv = "packaging\.build-venv"
if (-not (Test-Path "$venv\Scripts\python.exe")) {
    py -$Python -m venv $venv
    & "$venv\Scripts\python.exe" -m pip install --upgrade pip
    if ($Cuda) {
        # CUDA wheels live on PyTorch's own index; the pins come from packaging\requirements.txt
        $pins = Select-String -Path packaging\requirements.txt -Pattern '^(torch|torchvision)==' | ForEach-Object { $_.Line }
        & "$venv\Scripts\python.exe" -m pip install --index-url https://download.pytorch.org/whl/cu130 @pins
    }
    & "$venv\Scripts\python.exe" -m pip install -r packaging\requirements.txt -r packaging\requirements-build.txt
}
$py = "$venv\Scripts\python.exe"
& $py -m pip install --no-deps --no-build-isolation --force-reinstall .
$version = & $py -c "import importlib.metadata as m; print(m.version('cvstudio'))"

$env:CVSTUDIO_VARIANT = $(if ($Cuda) { "cuda" } else { "cpu" })
if (Test-Path dist\cvstudio) { Remove-Item -Recurse -Force dist\cvstudio }
& "$venv\Scripts\pyinstaller.exe" --noconfirm --log-level WARN --distpath dist --workpath build\pyinstaller packaging\cvstudio.spec
if ($LASTEXITCODE -ne 0) { throw "PyInstaller failed" }

& dist\cvstudio\cvstudio-cli.exe --self-test
if ($LASTEXITCODE -ne 0) { throw "the bundle's self-test failed" }

$iscc = (Get-Command iscc.exe -ErrorAction SilentlyContinue).Source
if (-not $iscc) { $iscc = "${env:ProgramFiles(x86)}\Inno Setup 6\ISCC.exe" }
& $iscc "/DAppVersion=$version" "/DSourceDir=$((Resolve-Path dist\cvstudio).Path)" "/DOutputDir=$((Resolve-Path dist).Path)" `
    "/DIconFile=$((Resolve-Path resources\cvstudio.ico).Path)" packaging\windows\cvstudio.iss
if ($LASTEXITCODE -ne 0) { throw "Inno Setup failed" }
Get-ChildItem dist\CVStudio-*-setup.exe | Format-Table Name, Length
