"""Helper package of the textbook "Attention, Step by Step".

Layers (imports point down only):

    checks                 exercise checkers            (imported by notebooks only)
    claims                 numbers in the prose, checked against the code (notebooks, tests)
    train, metrics, plots  training (one loop for every chapter, two optimiser recipes),
                           evaluation, figures
    measure                timings and peak memory
    diagrams, block_diagrams, explorer   architecture diagrams; the attention explorer
    pretrained             all-MiniLM-L6-v2's weights and tokenizer, read from files
    models                 recurrent and Transformer models, BERT's encoder; protocol: every
                           model returns (output, attention weights or None)
    data                   Mini-German (pair, lexicon, grammar, sampler), splits, vocabularies
                           and batches, corpora, toy tasks, glimpse canvases, text
    special_tokens         ids of the special tokens (pad, bos, eos, unk)
    validation             argument checks: each names the bad argument in one sentence
    setup                  setup_book(): seeds, threads, plot style
    student_edition, sphinx_book, benchmark   tools run on their own; nothing imports them

Shape letters used in comments throughout the book:

    B batch size        L query (target) length     S key (source) length
    E model / embedding width   H number of heads (hidden width in the RNN chapters)
    D width of one head         V vocabulary size            T target length (RNN chapters)
"""
