"""Helper package of the textbook "Attention, Step by Step".

Layers (imports point down only):

    checks                 exercise checkers            (imported by notebooks only)
    claims                 numbers in the prose, checked against the code (notebooks, tests)
    train, metrics, plots  training, evaluation, figures
    diagrams, explorer     architecture diagrams; the interactive attention explorer
    models                 recurrent encoder/decoder, attention modules
    data                   Mini-German (pair, lexicon, grammar, sampler), splits, vocabularies
                           and batches, corpora, toy tasks, glimpse canvases, text
    specials               ids of the special tokens (pad, bos, eos, unk)
    setup                  setup_book(): seeds, threads, plot style
    student_edition, sphinx_book   tools run on their own; nothing imports them

Shape letters used in comments throughout the book:

    B batch size        L query (target) length     S key (source) length
    E model / embedding width   H number of heads (hidden width in the RNN chapters)
    D width of one head         V vocabulary size            T target length (RNN chapters)
"""
