//! Every printed label, in the exam's language.

use model::Language;

/// The fixed wording of a sheet.
pub(crate) struct Labels {
    pub name: &'static str,
    pub class: &'static str,
    pub student_id: &'static str,
    pub signature: &'static str,
    pub version: &'static str,
    pub instructions: [&'static str; 2],
    pub correct: &'static str,
    pub wrong: &'static str,
    pub student_number: &'static str,
    pub student_number_hint: &'static str,
    pub page: &'static str,
    pub of: &'static str,
    /// Before "3/4" in a booklet page's personal band.
    pub booklet_page: &'static str,
}

const PT_BR: Labels = Labels {
    name: "NOME",
    class: "TURMA",
    student_id: "MATRÍCULA",
    signature: "ASSINATURA",
    version: "VERSÃO",
    instructions: [
        "Use caneta esferográfica preta ou azul e preencha toda a bolha, sem ultrapassar a borda.",
        "Não rasure, não dobre e não escreva sobre o código QR nem sobre as marcas dos cantos.",
    ],
    correct: "Correto:",
    wrong: "Errado:",
    student_number: "NÚMERO DO ALUNO",
    student_number_hint: "escreva os dígitos e preencha uma bolha por coluna",
    page: "Folha de respostas — página",
    of: "de",
    booklet_page: "Caderno — página",
};

const EN: Labels = Labels {
    name: "NAME",
    class: "CLASS",
    student_id: "STUDENT ID",
    signature: "SIGNATURE",
    version: "VERSION",
    instructions: [
        "Use a black or blue ballpoint pen and fill the whole bubble, without going over its edge.",
        "Do not erase, fold, or write over the QR code or the corner marks.",
    ],
    correct: "Correct:",
    wrong: "Wrong:",
    student_number: "STUDENT NUMBER",
    student_number_hint: "write the digits and fill one bubble per column",
    page: "Answer sheet — page",
    of: "of",
    booklet_page: "Booklet — page",
};

impl Labels {
    /// The labels for `language`.
    pub(crate) fn of(language: Language) -> &'static Labels {
        match language {
            Language::PtBr => &PT_BR,
            Language::En => &EN,
        }
    }
}

/// The exam date as a reader of `language` expects it (`30/11/2026` or `2026-11-30`).
pub(crate) fn format_date(date: &str, language: Language) -> String {
    match language {
        Language::PtBr => {
            let parts: Vec<&str> = date.split('-').collect();
            match parts.as_slice() {
                [y, m, d] => format!("{d}/{m}/{y}"),
                _ => date.to_string(),
            }
        }
        Language::En => date.to_string(),
    }
}
