# Two commands do all the set-up on a fresh machine (Python >= 3.10):
#   make book   builds the website into _build/html
#   make test   runs every test and executes every notebook
# Both create the virtual environment .venv and install requirements.txt first.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Stored outputs and the site carry no progress bars (see utils.train.progress_enabled).
export ATTENTION_BOOK_QUIET := 1

.PHONY: setup book book-execute book-student test notebooks student-edition assignments pdf \
        pdf-student clean

$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $(STAMP)

# The environment alone (what a course copy of the student edition needs, see the instructor guide).
setup: $(STAMP)

book: $(STAMP)
	$(VENV)/bin/jupyter-book build . -W -n --keep-going
	@echo "The book is at $(CURDIR)/_build/html/index.html"

# Maintainers: re-execute every notebook for the site (cached in _build/.jupyter_cache).
book-execute: $(STAMP)
	mkdir -p _build
	sed 's/execute_notebooks: auto/execute_notebooks: cache/' _config.yml > _build/_config_execute.yml
	$(VENV)/bin/jupyter-book build . -W -n --keep-going --config _build/_config_execute.yml
	@echo "The book is at $(CURDIR)/_build/html/index.html"

test: $(STAMP)
	$(PY) -m pytest

# Maintainers: execute chapters in place to refresh their stored outputs,
# e.g. `make notebooks NB=chapters/01_fixed_context_bottleneck.ipynb`.
NB ?= chapters/*.ipynb
notebooks: $(STAMP)
	for nb in $(NB); do \
	  $(VENV)/bin/jupyter nbconvert --to notebook --execute --inplace \
	    --ExecutePreprocessor.timeout=600 "$$nb" || exit 1; \
	done

# Instructors: the website without solutions (for courses that hand out graded work), built
# into _build/student/_build/html from stored outputs.
book-student: $(STAMP)
	$(PY) -m utils.student_edition --site _build/student_source --force
	$(VENV)/bin/jupyter-book build _build/student_source -W -n --keep-going --path-output _build/student
	@echo "The student site is at $(CURDIR)/_build/student/_build/html/index.html"

# The book as one PDF, and the student edition's (needs TeX Live; see the README):
# _build/pdf/attention-step-by-step.pdf and attention-step-by-step-student.pdf.
pdf: $(STAMP)
	$(PY) -m utils.pdf

pdf-student: $(STAMP)
	$(PY) -m utils.pdf --student

student-edition: $(STAMP)
	$(PY) -m utils.student_edition --out student_edition --force

# Instructors: every chapter as an otter-grader assignment (student notebook + autograder.zip)
assignments: $(STAMP)
	$(PY) -m utils.assignments --out assignments --force

clean:
	rm -rf _build student_edition assignments
